"""Dashboards: the widgets plugins declare and each user's saved layout of them."""
