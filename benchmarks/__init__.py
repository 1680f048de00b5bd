"""Agent comparisons and performance measurements of lrgym, with their recorded results."""
