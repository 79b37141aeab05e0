"""Managers' evaluations of technicians: forms declared by plugins, answers, scores."""
