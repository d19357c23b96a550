"""Demo data for the example shop: a catalogue and a year of customer history."""
