// benign: a byte-order mark.
