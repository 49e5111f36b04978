"""The sender's side of Editable-DeepSC (paper Fig. 2): GAN inversion (SE_I), instruction parsing (SE_T),
Joint Editing-Channel Coding (JECC) and the channel-encoder adapter A_CE."""
