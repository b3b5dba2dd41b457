package gitserver

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

const (
	maxPktLen = 65520 // whole packet, length prefix included

	// Side-band payload limits: packet length minus the 4-byte prefix and
	// the band byte. go-git's muxer allows 4 more bytes and git rejects
	// those packets, so the pack writer chunks itself.
	sideband64kMax = maxPktLen - 5
	sidebandMax    = 1000 - 5

	bandData     = 1
	bandProgress = 2
	bandError    = 3
)

var (
	errFlush = errors.New("flush packet")
	// errDelim and errResponseEnd are protocol v2's special packets
	// (0001, 0002). Readers of v0 requests treat them as any other error.
	errDelim       = errors.New("delim packet")
	errResponseEnd = errors.New("response-end packet")
)

// pktReader reads pkt-lines from a buffered stream without reading past the
// last packet it returns, so the same bufio.Reader can then hand the rest
// of the body (a pack) to another reader.
type pktReader struct {
	r   *bufio.Reader
	buf []byte
}

func newPktReader(r *bufio.Reader) *pktReader {
	return &pktReader{r: r, buf: make([]byte, maxPktLen)}
}

// next returns the payload of the next packet. A flush packet yields
// errFlush, a delim packet errDelim, a response-end packet
// errResponseEnd; a clean end of stream before a length prefix yields
// io.EOF.
// The returned slice is only valid until the next call.
func (p *pktReader) next() ([]byte, error) {
	var hdr [4]byte
	n, err := io.ReadFull(p.r, hdr[:])
	if err != nil {
		if err == io.EOF && n == 0 {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("reading pkt-line length: %w", io.ErrUnexpectedEOF)
	}
	size, err := strconv.ParseUint(string(hdr[:]), 16, 16)
	if err != nil {
		return nil, fmt.Errorf("bad pkt-line length %q", hdr[:])
	}
	switch {
	case size == 0:
		return nil, errFlush
	case size == 1:
		return nil, errDelim
	case size == 2:
		return nil, errResponseEnd
	case size < 4:
		return nil, fmt.Errorf("unexpected special packet %04x", size)
	case size > maxPktLen:
		return nil, fmt.Errorf("pkt-line too long: %d", size)
	}
	data := p.buf[:size-4]
	if _, err := io.ReadFull(p.r, data); err != nil {
		return nil, fmt.Errorf("reading pkt-line: %w", io.ErrUnexpectedEOF)
	}
	return data, nil
}

// atEOF reports whether the stream has no more bytes.
func (p *pktReader) atEOF() bool {
	_, err := p.r.Peek(1)
	return err != nil
}

func chomp(b []byte) string {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	return string(b)
}

func writePkt(w io.Writer, payload string) error {
	if len(payload)+4 > maxPktLen {
		return fmt.Errorf("pkt-line payload too long: %d", len(payload))
	}
	_, err := fmt.Fprintf(w, "%04x%s", len(payload)+4, payload)
	return err
}

func writePktf(w io.Writer, format string, args ...any) error {
	return writePkt(w, fmt.Sprintf(format, args...))
}

func writeFlush(w io.Writer) error {
	_, err := io.WriteString(w, "0000")
	return err
}

// writeDelim ends a section of a protocol v2 message.
func writeDelim(w io.Writer) error {
	_, err := io.WriteString(w, "0001")
	return err
}

// sidebandWriter wraps everything written into packets of one band, split
// so no packet exceeds max payload bytes.
type sidebandWriter struct {
	w    io.Writer
	band byte
	max  int
}

func (s *sidebandWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), s.max)
		hdr := [5]byte{}
		copy(hdr[:4], fmt.Sprintf("%04x", n+5))
		hdr[4] = s.band
		if _, err := s.w.Write(hdr[:]); err != nil {
			return written, err
		}
		if _, err := s.w.Write(p[:n]); err != nil {
			return written, err
		}
		written += n
		p = p[n:]
	}
	return written, nil
}

// capabilities parses the space-separated list after the NUL of the first
// command or want line. Values (agent=x, symref=a:b) are kept.
type capabilities map[string]string

func parseCapabilities(s string) capabilities {
	c := capabilities{}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ' ' {
			if i > start {
				word := s[start:i]
				name, value := word, ""
				for j := 0; j < len(word); j++ {
					if word[j] == '=' {
						name, value = word[:j], word[j+1:]
						break
					}
				}
				c[name] = value
			}
			start = i + 1
		}
	}
	return c
}

func (c capabilities) has(name string) bool {
	_, ok := c[name]
	return ok
}
