package sshd

import (
	"io"
	"net"
	"sync"
	"time"
)

// idleConn closes its connection once the server has waited on the
// client for timeout: no byte in either direction while no command was
// working. Time a command spends computing (counting objects, indexing a
// pushed pack) does not count, however long, since the client is waiting
// on the server then; time it spends blocked reading from the client or
// writing to a client that does not read does.
type idleConn struct {
	net.Conn
	timeout time.Duration

	mu    sync.Mutex
	busy  int // commands working, not waiting on the client
	timer *time.Timer
}

func newIdleConn(c net.Conn, timeout time.Duration) *idleConn {
	ic := &idleConn{Conn: c, timeout: timeout}
	ic.timer = time.AfterFunc(timeout, func() { c.Close() })
	return ic
}

func (c *idleConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.activity()
	}
	return n, err
}

func (c *idleConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.activity()
	}
	return n, err
}

func (c *idleConn) Close() error {
	c.timer.Stop()
	return c.Conn.Close()
}

func (c *idleConn) activity() {
	c.mu.Lock()
	if c.busy == 0 {
		c.timer.Reset(c.timeout)
	}
	c.mu.Unlock()
}

// working stops the clock until the returned function is called.
func (c *idleConn) working() (done func()) {
	c.mu.Lock()
	c.busy++
	c.timer.Stop()
	c.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			if c.busy--; c.busy == 0 {
				c.timer.Reset(c.timeout)
			}
			c.mu.Unlock()
		})
	}
}

// waiting runs fn, a read from or write to the client, with the clock
// running: the caller holds a working() mark, which fn suspends.
func (c *idleConn) waiting(fn func() (int, error)) (int, error) {
	c.mu.Lock()
	if c.busy--; c.busy == 0 {
		c.timer.Reset(c.timeout)
	}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.busy++
		c.timer.Stop()
		c.mu.Unlock()
	}()
	return fn()
}

// clientIO is a command's stdin and stdout: reads and writes that wait
// on the client, so the idle clock runs while they block.
type clientIO struct {
	ic *idleConn
	rw io.ReadWriter
}

func (c clientIO) Read(p []byte) (int, error) {
	return c.ic.waiting(func() (int, error) { return c.rw.Read(p) })
}

func (c clientIO) Write(p []byte) (int, error) {
	return c.ic.waiting(func() (int, error) { return c.rw.Write(p) })
}
