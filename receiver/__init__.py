"""The receiving side of Editable-DeepSC (paper Fig. 2): equalisation, the channel-decoder adapter A_CD and the
StyleGAN decoder (JSCD)."""
