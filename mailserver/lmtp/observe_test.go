package lmtp

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/tidemark/tidemark/engine/event"
)

// countingObserver counts replies as "stage code enhanced".
type countingObserver struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *countingObserver) Reply(stage string, code int, enh string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n[fmt.Sprintf("%s %d %s", stage, code, enh)]++
}

func (o *countingObserver) counts() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := make(map[string]int, len(o.n))
	for k, v := range o.n {
		c[k] = v
	}
	return c
}

// TestObserverHearsEveryReply: the observer hears exactly the replies the
// client got, per stage, including those go-smtp fills in when the whole
// delivery fails.
func TestObserverHearsEveryReply(t *testing.T) {
	b := newMemBackend()
	b.add("ok@example.com", event.StatusActive, 0)
	b.add("full@example.com", event.StatusActive, 10)
	b.add("maint@example.com", event.StatusMaintenance, 0)
	obs := &countingObserver{n: map[string]int{}}
	_, addr := startServer(t, b, &Options{Observer: obs})

	cl := dial(t, addr)
	cl.lhlo()
	cl.send("MAIL FROM:<s\x01x@example.org>")
	cl.expect(501, "5.1.7")
	cl.send("MAIL FROM:<s@example.org>",
		"RCPT TO:<ok@example.com>",
		"RCPT TO:<nobody@example.com>",
		"RCPT TO:<full@example.com>",
		"RCPT TO:<maint@example.com>",
		"DATA")
	cl.expect(250, "")
	cl.expect(250, "")
	cl.expect(550, "5.1.1")
	cl.expect(250, "")
	cl.expect(450, "4.2.1")
	cl.expect(354, "")
	cl.sendBody(testMsg)
	cl.expectRcpt("ok@example.com", 250, "2.0.0")
	cl.expectRcpt("full@example.com", 552, "5.2.2")

	// A delivery that fails as a whole: go-smtp answers every recipient.
	b.failDeliver(errors.New("disk on fire"))
	cl.send("MAIL FROM:<s@example.org>", "RCPT TO:<ok@example.com>", "DATA")
	cl.expect(250, "")
	cl.expect(250, "")
	cl.expect(354, "")
	cl.sendBody(testMsg)
	cl.expect(451, "4.3.0")

	want := map[string]int{
		"mail 501 5.1.7": 1,
		"mail 250 2.0.0": 2,
		"rcpt 250 2.0.0": 3,
		"rcpt 550 5.1.1": 1,
		"rcpt 450 4.2.1": 1,
		"data 250 2.0.0": 1,
		"data 552 5.2.2": 1,
		"data 451 4.3.0": 1,
	}
	if got := obs.counts(); !reflect.DeepEqual(got, want) {
		t.Fatalf("observer heard %v, want %v", got, want)
	}
}
