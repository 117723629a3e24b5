"""``python -m keytrail`` runs the command line."""

from keytrail.cli.main import main

if __name__ == "__main__":
    main()
