// benign: CRLF line endings.
