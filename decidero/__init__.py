"""Decidero: a group decision support system for facilitated meetings."""
