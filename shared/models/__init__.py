"""Model architectures shared by the transmitter, the receiver and the training tools."""
