package importer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tidemark/tidemark/engine"
)

// Remote reads a live IMAP server (Dovecot, Zimbra, any IMAP4rev1 server)
// over TLS: implicit (TLS) or STARTTLS. Folders are opened read-only
// (EXAMINE) and bodies fetched with BODY.PEEK[], so the server's \Seen
// flags do not change.
type Remote struct {
	Addr      string // host:port
	TLS       bool   // implicit TLS; false: STARTTLS
	TLSConfig *tls.Config
	User      string
	Password  string
	// Only names the remote folders to import (as the server lists
	// them); empty: all.
	Only []string
	// Timeout bounds the dial and every read and write while a command
	// is outstanding. Default 60 s.
	Timeout time.Duration
	// MaxMessageSize: larger messages (by RFC822.SIZE, and by the literal
	// the server sends) are reported failed without being read. Default
	// engine.DefaultMaxMessageSize.
	MaxMessageSize int64
	// FetchMessages and FetchBytes bound one UID FETCH of bodies.
	// Defaults 1000 and 32 MiB.
	FetchMessages int
	FetchBytes    int64

	conn   *deadlineConn
	client *imapclient.Client
}

var _ Source = (*Remote)(nil)

// Key is user@host: the IMAP and IMAPS ports of one server share a state.
func (r *Remote) Key() string {
	host, _, err := net.SplitHostPort(r.Addr)
	if err != nil {
		host = r.Addr
	}
	return "imap:" + r.User + "@" + host
}

func (r *Remote) defaults() {
	if r.Timeout <= 0 {
		r.Timeout = 60 * time.Second
	}
	if r.MaxMessageSize <= 0 {
		r.MaxMessageSize = engine.DefaultMaxMessageSize
	}
	if r.FetchMessages <= 0 {
		r.FetchMessages = 1000
	}
	if r.FetchBytes <= 0 {
		r.FetchBytes = 32 << 20
	}
}

// deadlineConn gives every read and write a deadline while armed (a
// command is outstanding), and none while idle, so a slow engine between
// two commands does not time the connection out.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
	mu      sync.Mutex
	armed   bool
}

func (c *deadlineConn) arm() {
	c.mu.Lock()
	c.armed = true
	c.mu.Unlock()
	_ = c.Conn.SetDeadline(time.Now().Add(c.timeout))
}

func (c *deadlineConn) disarm() {
	c.mu.Lock()
	c.armed = false
	c.mu.Unlock()
	_ = c.Conn.SetDeadline(time.Time{})
}

func (c *deadlineConn) isArmed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.armed
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	if c.isArmed() {
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	}
	return c.Conn.Read(p)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.Conn.Write(p)
}

// do runs one command with the connection armed, and closes the
// connection if ctx ends first.
func (r *Remote) do(ctx context.Context, fn func() error) error {
	r.conn.arm()
	defer r.conn.disarm()
	stop := context.AfterFunc(ctx, func() { r.conn.Conn.Close() })
	defer stop()
	err := fn()
	if ctxErr := ctx.Err(); ctxErr != nil && err != nil {
		return ctxErr
	}
	return err
}

func (r *Remote) connect(ctx context.Context) error {
	if r.client != nil {
		return nil
	}
	r.defaults()
	d := net.Dialer{Timeout: r.Timeout}
	raw, err := d.DialContext(ctx, "tcp", r.Addr)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", r.Addr, err)
	}
	r.conn = &deadlineConn{Conn: raw, timeout: r.Timeout}
	cfg := r.TLSConfig.Clone()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		host, _, _ := net.SplitHostPort(r.Addr)
		cfg.ServerName = host
	}
	opts := &imapclient.Options{TLSConfig: cfg}
	err = r.do(ctx, func() error {
		if r.TLS {
			tc := tls.Client(r.conn, cfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				return fmt.Errorf("TLS with %s: %w", r.Addr, err)
			}
			r.client = imapclient.New(tc, opts)
		} else {
			c, err := imapclient.NewStartTLS(r.conn, opts)
			if err != nil {
				return fmt.Errorf("STARTTLS with %s: %w", r.Addr, err)
			}
			r.client = c
		}
		if err := r.client.WaitGreeting(); err != nil {
			return fmt.Errorf("greeting from %s: %w", r.Addr, err)
		}
		if err := r.client.Login(r.User, r.Password).Wait(); err != nil {
			return fmt.Errorf("login to %s as %s: %w", r.Addr, r.User, err)
		}
		return nil
	})
	if err != nil {
		r.conn.Close()
		r.client = nil
	}
	return err
}

// Close logs out (bounded by the timeout) and closes the connection.
func (r *Remote) Close() error {
	if r.client == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.Timeout)
	defer cancel()
	_ = r.do(ctx, func() error { return r.client.Logout().Wait() })
	err := r.client.Close()
	r.client = nil
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

var specialUseAttrs = map[imap.MailboxAttr]string{
	imap.MailboxAttrSent: `\Sent`, imap.MailboxAttrDrafts: `\Drafts`, imap.MailboxAttrTrash: `\Trash`,
	imap.MailboxAttrJunk: `\Junk`, imap.MailboxAttrArchive: `\Archive`,
}

// Folders lists the remote folders (LIST "" "*"), with their message
// counts (STATUS).
func (r *Remote) Folders(ctx context.Context) ([]Folder, error) {
	if err := r.connect(ctx); err != nil {
		return nil, err
	}
	var list []*imap.ListData
	err := r.do(ctx, func() error {
		var err error
		list, err = r.client.List("", "*", nil).Collect()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("LIST: %w", err)
	}
	want := map[string]bool{}
	for _, n := range r.Only {
		want[n] = true
	}
	var out []Folder
	seen := map[string]bool{}
	for _, l := range list {
		if len(want) > 0 && !want[l.Mailbox] && !(strings.EqualFold(l.Mailbox, engine.InboxName) && want[engine.InboxName]) {
			continue
		}
		f := Folder{Name: l.Mailbox, Path: l.Mailbox}
		if l.Delim != 0 && l.Delim != '/' {
			f.Path = strings.ReplaceAll(l.Mailbox, string(l.Delim), engine.PathSep)
		}
		if strings.EqualFold(f.Path, engine.InboxName) {
			f.Path = engine.InboxName
		}
		for _, a := range l.Attrs {
			if a == imap.MailboxAttrNoSelect || a == imap.MailboxAttrNonExistent {
				f.NoSelect = true
			}
			if su, ok := specialUseAttrs[a]; ok {
				f.SpecialUse = su
			}
		}
		seen[l.Mailbox] = true
		out = append(out, f)
	}
	for n := range want {
		if !seen[n] && !(strings.EqualFold(n, engine.InboxName) && seen[engine.InboxName]) {
			return nil, fmt.Errorf("no folder %q on %s", n, r.Addr)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	for i := range out {
		if out[i].NoSelect {
			continue
		}
		var sd *imap.StatusData
		err := r.do(ctx, func() error {
			var err error
			sd, err = r.client.Status(out[i].Name, &imap.StatusOptions{NumMessages: true}).Wait()
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("STATUS %s: %w", out[i].Name, err)
		}
		if sd.NumMessages != nil {
			out[i].Messages = int64(*sd.NumMessages)
		}
	}
	return out, nil
}

type uidSize struct {
	uid  imap.UID
	size int64
}

// Open examines the folder and lists the UIDs after the cursor with their
// sizes (UID FETCH n:* (UID RFC822.SIZE)).
func (r *Remote) Open(ctx context.Context, f Folder, c Cursor) (FolderReader, error) {
	if err := r.connect(ctx); err != nil {
		return nil, err
	}
	var sel *imap.SelectData
	err := r.do(ctx, func() error {
		var err error
		sel, err = r.client.Select(f.Name, &imap.SelectOptions{ReadOnly: true}).Wait()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("EXAMINE %s: %w", f.Name, err)
	}
	rd := &remoteReader{r: r, folder: f.Name, validity: sel.UIDValidity, got: map[imap.UID]Message{}}
	from := imap.UID(1)
	if c.Validity == sel.UIDValidity && c.Next > 1 {
		from = imap.UID(c.Next)
	} else if c.Validity != 0 && c.Validity != sel.UIDValidity {
		rd.restarted = true
	}
	if sel.NumMessages == 0 {
		return rd, nil
	}
	err = r.do(ctx, func() error {
		var set imap.UIDSet
		set.AddRange(from, 0)
		cmd := r.client.Fetch(set, &imap.FetchOptions{UID: true, RFC822Size: true})
		for {
			m := cmd.Next()
			if m == nil {
				break
			}
			buf, err := m.Collect()
			if err != nil {
				cmd.Close()
				return err
			}
			if buf.UID >= from {
				rd.todo = append(rd.todo, uidSize{buf.UID, buf.RFC822Size})
				rd.bytes += buf.RFC822Size
			}
		}
		return cmd.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("UID FETCH sizes in %s: %w", f.Name, err)
	}
	sort.Slice(rd.todo, func(i, j int) bool { return rd.todo[i].uid < rd.todo[j].uid })
	return rd, nil
}

type remoteReader struct {
	r         *Remote
	folder    string
	validity  uint32
	restarted bool
	todo      []uidSize // after the cursor, UID order
	next      int       // index of the next message to return
	bytes     int64     // of todo[next:]
	fetched   int       // todo[:fetched] have been asked for
	cmd       *imapclient.FetchCommand
	got       map[imap.UID]Message // arrived ahead of their turn
}

func (rd *remoteReader) Restarted() bool { return rd.restarted }

func (rd *remoteReader) Pending() (int64, int64) { return int64(len(rd.todo) - rd.next), rd.bytes }

func (rd *remoteReader) Close() error {
	if rd.cmd != nil {
		ctx, cancel := context.WithTimeout(context.Background(), rd.r.Timeout)
		defer cancel()
		_ = rd.r.do(ctx, rd.cmd.Close)
		rd.cmd = nil
	}
	return nil
}

// Next returns the messages in UID order. Bodies are fetched in chunks of
// at most FetchMessages messages and FetchBytes bytes; one command is
// outstanding at a time and every read has a deadline.
func (rd *remoteReader) Next(ctx context.Context) (Message, error) {
	if rd.next >= len(rd.todo) {
		return Message{}, io.EOF
	}
	want := rd.todo[rd.next]
	validity := rd.validity
	advance := func(c *Cursor) { c.Validity, c.Next = validity, uint64(want.uid)+1 }
	id := fmt.Sprintf("uid %d", want.uid)
	done := func(m Message) (Message, error) {
		rd.next++
		rd.bytes -= want.size
		m.ID, m.Advance = id, advance
		return m, nil
	}
	if want.size > rd.r.MaxMessageSize {
		return done(Message{Size: want.size, Err: fmt.Errorf("%w: %d bytes, limit %d", engine.ErrTooLarge, want.size, rd.r.MaxMessageSize)})
	}
	for {
		if m, ok := rd.got[want.uid]; ok {
			delete(rd.got, want.uid)
			return done(m)
		}
		if rd.cmd == nil {
			if rd.fetched > rd.next {
				// The chunk that held it ended without it: expunged meanwhile.
				return done(Message{Size: want.size, Err: errors.New("expunged on the server during the import")})
			}
			if err := rd.startChunk(ctx); err != nil {
				return Message{}, err
			}
			continue
		}
		if err := rd.readOne(ctx); err != nil {
			return Message{}, err
		}
	}
}

// startChunk sends UID FETCH for the next chunk of messages.
func (rd *remoteReader) startChunk(ctx context.Context) error {
	var set imap.UIDSet
	var n int
	var bytes int64
	for rd.fetched < len(rd.todo) && n < rd.r.FetchMessages && (n == 0 || bytes < rd.r.FetchBytes) {
		u := rd.todo[rd.fetched]
		rd.fetched++
		if u.size > rd.r.MaxMessageSize {
			continue
		}
		set.AddNum(u.uid)
		n++
		bytes += u.size
	}
	if n == 0 {
		return nil
	}
	return rd.r.do(ctx, func() error {
		rd.cmd = rd.r.client.Fetch(set, &imap.FetchOptions{UID: true, Flags: true, InternalDate: true,
			BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
		return nil
	})
}

// readOne reads one message of the outstanding FETCH into got, or ends
// the command.
func (rd *remoteReader) readOne(ctx context.Context) error {
	return rd.r.do(ctx, func() error {
		fm := rd.cmd.Next()
		if fm == nil {
			err := rd.cmd.Close()
			rd.cmd = nil
			if err != nil {
				return fmt.Errorf("UID FETCH in %s: %w", rd.folder, err)
			}
			return nil
		}
		var m Message
		var uid imap.UID
		hasBody := false
		for {
			item := fm.Next()
			if item == nil {
				break
			}
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = it.UID
			case imapclient.FetchItemDataFlags:
				for _, f := range it.Flags {
					m.Flags = append(m.Flags, string(f))
				}
			case imapclient.FetchItemDataInternalDate:
				m.Date = it.Time
			case imapclient.FetchItemDataBodySection:
				hasBody = true
				if it.Literal == nil {
					m.Err = errors.New("the server sent no body")
					continue
				}
				m.Size = it.Literal.Size()
				if m.Size > rd.r.MaxMessageSize {
					m.Err = fmt.Errorf("%w: %d bytes, limit %d", engine.ErrTooLarge, m.Size, rd.r.MaxMessageSize)
					continue // the literal is discarded by fm.Next
				}
				b, err := io.ReadAll(it.Literal)
				if err != nil {
					return fmt.Errorf("UID FETCH in %s: %w", rd.folder, err)
				}
				if int64(len(b)) != m.Size {
					// The literal reader reports a connection closed by the
					// server as a plain end of data: the message is cut.
					return fmt.Errorf("UID FETCH in %s: the connection ended %d bytes into a %d-byte message", rd.folder, len(b), m.Size)
				}
				m.Body = b
			}
		}
		if uid == 0 || !hasBody {
			return nil // an unsolicited FETCH (a flag change by another client)
		}
		if m.Body == nil && m.Err == nil {
			m.Err = errors.New("the server sent no body")
		}
		if m.Date.IsZero() && m.Err == nil {
			m.Err = errors.New("the server sent no INTERNALDATE")
		}
		if m.Err != nil {
			m.Body = nil
		}
		rd.got[uid] = m
		return nil
	})
}
