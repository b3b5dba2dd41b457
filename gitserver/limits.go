package gitserver

// MaxFileSize is the largest blob a push may bring (0: no limit), for the
// forge's other ways of writing files, which obey the same limit.
func (s *Server) MaxFileSize() int64 { return s.cfg.MaxFileSize }
