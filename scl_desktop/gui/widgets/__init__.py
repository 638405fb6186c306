"""Reusable widgets: live plots, bar charts, confusion heat map, config forms, tables, log."""
