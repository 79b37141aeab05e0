"""Bulk imports of jobs and feedback from CSV or JSON Lines: validated whole, written all or nothing."""
