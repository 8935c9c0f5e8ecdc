"""Interfaces the use cases need from the outside world. Only domain types cross them."""
