package engine

import (
	"context"
	"sort"
	"strings"
	"time"
)

// Thread is one node of a THREAD answer (RFC 5256 section 3): an item and
// the replies to it. Item 0 is a dummy: a message that is referred to but
// not among the results (or, in THREAD=REFERENCES, the parent made to
// hold threads with one subject); the IMAP layer writes it as a
// parenthesised list without a number.
type Thread struct {
	Item     uint64
	Children []*Thread
}

// ThreadAlgorithm names a THREAD algorithm.
type ThreadAlgorithm string

// Threading algorithms of RFC 5256.
const (
	ThreadOrderedSubject ThreadAlgorithm = "ORDEREDSUBJECT"
	ThreadReferences     ThreadAlgorithm = "REFERENCES"
)

// threadMsg is what threading needs of a message.
type threadMsg struct {
	id        uint64
	seq       int       // position in the results (UID order): the final tie-break
	messageID string    // "" when absent or invalid
	refs      []string  // References, or the first In-Reply-To id
	subject   string    // decoded Subject
	sent      time.Time // sent date (RFC 5256 section 2.2)
}

// maxRefs bounds the references used per message; the last ones, nearest
// the message, are kept.
const maxRefs = 100

// msgIDs returns the message ids in a References or In-Reply-To value,
// without their angle brackets: for every '>', the text since the last
// '<' before it, when that is not empty and has no white space. Text
// between ids (comments, "from ... on ..." that some clients write) is
// skipped, and a stray '<' in it does not swallow the id after it.
func msgIDs(v string) []string {
	var out []string
	for {
		j := strings.IndexByte(v, '>')
		if j < 0 {
			return out
		}
		if i := strings.LastIndexByte(v[:j], '<'); i >= 0 {
			if id := v[i+1 : j]; id != "" && !strings.ContainsAny(id, " \t\r\n") {
				out = append(out, id)
			}
		}
		v = v[j+1:]
	}
}

// threadRefs is the reference chain of a message: its References, or the
// first id of In-Reply-To when References has none (RFC 5256 step 1).
func threadRefs(references, inReplyTo string) []string {
	refs := msgIDs(references)
	if len(refs) == 0 {
		if irt := msgIDs(inReplyTo); len(irt) > 0 {
			refs = irt[:1]
		}
	}
	if len(refs) > maxRefs {
		refs = refs[len(refs)-maxRefs:]
	}
	return refs
}

// before orders by sent date, then by position in the results.
func (m *threadMsg) before(o *threadMsg) bool {
	if !m.sent.Equal(o.sent) {
		return m.sent.Before(o.sent)
	}
	return m.seq < o.seq
}

// threadOrderedSubject is THREAD=ORDEREDSUBJECT: messages grouped by base
// subject; in each group the earliest message is the root and the others,
// by sent date, its children (siblings of each other); threads ordered by
// the sent date of their root.
func threadOrderedSubject(msgs []threadMsg) []*Thread {
	type entry struct {
		m    *threadMsg
		base string
	}
	es := make([]entry, len(msgs))
	for i := range msgs {
		b, _ := BaseSubject(msgs[i].subject)
		es[i] = entry{&msgs[i], asciiFold(b)}
	}
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].base != es[j].base {
			return es[i].base < es[j].base
		}
		return es[i].m.before(es[j].m)
	})
	type group struct {
		root *threadMsg
		t    *Thread
	}
	var groups []group
	for i := 0; i < len(es); {
		j := i + 1
		for j < len(es) && es[j].base == es[i].base {
			j++
		}
		t := &Thread{Item: es[i].m.id}
		for _, e := range es[i+1 : j] {
			t.Children = append(t.Children, &Thread{Item: e.m.id})
		}
		groups = append(groups, group{es[i].m, t})
		i = j
	}
	sort.SliceStable(groups, func(i, j int) bool { return groups[i].root.before(groups[j].root) })
	out := make([]*Thread, len(groups))
	for i, g := range groups {
		out[i] = g.t
	}
	return out
}

// container is a node of THREAD=REFERENCES: a message or a dummy.
type container struct {
	msg      *threadMsg // nil: dummy
	parent   *container
	children []*container
	// Set for merging by subject (step 6).
	base string
	rf   bool
}

func (c *container) unlink() {
	p := c.parent
	if p == nil {
		return
	}
	for i, k := range p.children {
		if k == c {
			p.children = append(p.children[:i:i], p.children[i+1:]...)
			break
		}
	}
	c.parent = nil
}

func (c *container) adopt(k *container) {
	k.unlink()
	k.parent = c
	c.children = append(c.children, k)
}

// hasAncestor reports whether d is c or one of c's ancestors: making d a
// child of c would close a loop.
func (c *container) hasAncestor(d *container) bool {
	for x := c; x != nil; x = x.parent {
		if x == d {
			return true
		}
	}
	return false
}

// first is the message a container sorts and is named by: itself, or for
// a dummy its first child (children sorted first).
func (c *container) first() *threadMsg {
	for x := c; x != nil; {
		if x.msg != nil {
			return x.msg
		}
		if len(x.children) == 0 {
			return nil
		}
		x = x.children[0]
	}
	return nil
}

func sortContainers(cs []*container) {
	sort.SliceStable(cs, func(i, j int) bool {
		a, b := cs[i].first(), cs[j].first()
		if a == nil || b == nil {
			return a != nil
		}
		return a.before(b)
	})
}

// threadReferences is THREAD=REFERENCES (RFC 5256 section 3), step by
// step. Message ids compare case-sensitively, base subjects with
// i;ascii-casemap.
// The context is checked between messages: loop checks walk up the tree,
// so hostile References cost time in proportion to its depth.
func threadReferences(ctx context.Context, msgs []threadMsg) ([]*Thread, error) {
	// (1) Containers by Message-ID. A message without one, or with the
	// id of an earlier message, gets a container of its own that no
	// reference can reach.
	byID := make(map[string]*container, len(msgs))
	var all []*container
	mine := make([]*container, len(msgs))
	for i := range msgs {
		c := &container{msg: &msgs[i]}
		mine[i] = c
		all = append(all, c)
		if id := msgs[i].messageID; id != "" {
			if _, dup := byID[id]; !dup {
				byID[id] = c
			}
		}
	}
	get := func(id string) *container {
		c := byID[id]
		if c == nil {
			c = &container{}
			byID[id] = c
			all = append(all, c)
		}
		return c
	}
	for i := range msgs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		refs := msgs[i].refs
		// (1A) Link each reference to the next, unless the child has a
		// parent already or the link would close a loop.
		for j := 0; j+1 < len(refs); j++ {
			p, k := get(refs[j]), get(refs[j+1])
			if k.parent == nil && !p.hasAncestor(k) {
				p.adopt(k)
			}
		}
		// (1B) The last reference is the message's parent: its own
		// References win over a link made from another message's.
		c := mine[i]
		c.unlink()
		if len(refs) > 0 {
			if p := get(refs[len(refs)-1]); !p.hasAncestor(c) {
				p.adopt(c)
			}
		}
	}
	// (2) The root set: every container without a parent. (3) The id
	// table is not needed beyond this point.
	var roots []*container
	for _, c := range all {
		if c.parent == nil {
			roots = append(roots, c)
		}
	}
	// (4) Prune dummies.
	roots = prune(roots, true)
	// (5) Sort the top level by sent date; a dummy by its first child.
	for _, r := range roots {
		if r.msg == nil {
			sortContainers(r.children)
		}
	}
	sortContainers(roots)
	// (6) Merge threads with one base subject.
	roots = mergeBySubject(roots)
	// (7) Sort every set of siblings, the deepest first.
	var sortDeep func(cs []*container)
	sortDeep = func(cs []*container) {
		for _, c := range cs {
			sortDeep(c.children)
		}
		sortContainers(cs)
	}
	sortDeep(roots)
	out := make([]*Thread, len(roots))
	for i, r := range roots {
		out[i] = toThread(r)
	}
	return out, nil
}

// prune removes dummies (RFC 5256 step 4): one without children goes; one
// with children is replaced by them, except at the top level, where only
// a dummy with a single child is.
func prune(cs []*container, top bool) []*container {
	out := cs[:0:0]
	for _, c := range cs {
		c.children = prune(c.children, false)
		if c.msg == nil {
			if len(c.children) == 0 {
				continue
			}
			if !top || len(c.children) == 1 {
				for _, k := range c.children {
					k.parent = c.parent
				}
				out = append(out, c.children...)
				continue
			}
		}
		out = append(out, c)
	}
	return out
}

// mergeBySubject is RFC 5256 step 6: threads at the top level with the
// same base subject are gathered under one container.
func mergeBySubject(roots []*container) []*container {
	// The thread subject: the base subject of the message, or of a
	// dummy's first child; only a message is a reply or forward.
	for _, r := range roots {
		if m := r.first(); m != nil {
			b, rf := BaseSubject(m.subject)
			r.base, r.rf = asciiFold(b), rf && r.msg != nil
		}
	}
	// (6B) One container per subject: a dummy is preferred, then a
	// message that is not a reply or forward.
	table := map[string]*container{}
	for _, r := range roots {
		if r.base == "" {
			continue
		}
		t := table[r.base]
		switch {
		case t == nil:
			table[r.base] = r
		case t.msg != nil && (r.msg == nil || t.rf && !r.rf):
			table[r.base] = r
		}
	}
	// (6C) Merge the others into it.
	gone := map[*container]bool{}
	var added []*container
	for _, r := range roots {
		if r.base == "" {
			continue
		}
		t := table[r.base]
		if t == r {
			continue
		}
		switch {
		case t.msg == nil && r.msg == nil:
			for _, k := range append([]*container(nil), r.children...) {
				t.adopt(k)
			}
			gone[r] = true
		case t.msg == nil:
			t.adopt(r)
			gone[r] = true
		case r.rf && !t.rf:
			t.adopt(r)
			gone[r] = true
		default:
			d := &container{base: r.base}
			d.adopt(t)
			d.adopt(r)
			gone[t], gone[r] = true, true
			table[r.base] = d
			added = append(added, d)
		}
	}
	out := roots[:0:0]
	for _, r := range roots {
		if !gone[r] {
			out = append(out, r)
		}
	}
	for _, d := range added {
		if !gone[d] {
			out = append(out, d)
		}
	}
	return out
}

func toThread(c *container) *Thread {
	t := &Thread{}
	if c.msg != nil {
		t.Item = c.msg.id
	}
	if len(c.children) > 0 {
		t.Children = make([]*Thread, len(c.children))
		for i, k := range c.children {
			t.Children[i] = toThread(k)
		}
	}
	return t
}
