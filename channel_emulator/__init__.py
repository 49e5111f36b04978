"""The physical link between transmitter and receiver: power normalisation, fading, noise, digital baseline link."""
