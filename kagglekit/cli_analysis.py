"""Commands of the analysis part; registered on kagglekit.cli.app."""
