package main

import (
	"fmt"
	"net"
	"os"
	"time"
)

// sdNotify sends state ("READY=1", "STOPPING=1", "STATUS=...") to the
// service manager over the datagram socket named by $NOTIFY_SOCKET, as
// sd_notify(3) does, for a systemd unit with Type=notify
// (dist/tidemark.service). Without $NOTIFY_SOCKET it does nothing. A
// name starting with '@' is in the abstract namespace.
func sdNotify(state string) error {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return nil
	}
	if name[0] == '@' {
		name = "\x00" + name[1:]
	} else if name[0] != '/' {
		return fmt.Errorf("sd_notify: NOTIFY_SOCKET %q is neither a path nor an abstract socket", name)
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	if err := c.SetWriteDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}
