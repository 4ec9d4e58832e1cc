"""Commands of the ensemble part; registered on kagglekit.cli.app."""
