from beffroi.core.timezones import sorted_time_zones


def time_zones(request) -> dict:
    return {"time_zones": sorted_time_zones()}
