"""Reference data every package may read: the committee catalogue and the key functions that
producers and the stream worker must compute the same way. Pure code and packaged data."""
