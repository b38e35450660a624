#!/usr/bin/env python
from beffroi.cli import main

if __name__ == "__main__":
    main()
