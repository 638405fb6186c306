"""One page per workflow step; each is a QWidget that reads and writes the shared ``Session``."""
