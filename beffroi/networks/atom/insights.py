"""The Atom feed has no statistics: a feed reader tells its publisher nothing (no reach, no likes, no followers)."""

READER = None
PUBLIC_READER = None
