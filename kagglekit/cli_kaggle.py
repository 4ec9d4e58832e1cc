"""Commands of the kaggle part; registered on kagglekit.cli.app."""
