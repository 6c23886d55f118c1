"""`python -m vertebro`: the same command line as `vertebro`."""

from vertebro.cli import main

if __name__ == "__main__":
    main(prog_name="vertebro")
