"""What both ends of the link use: model architectures, bundle format, LPIPS, image I/O, config."""
