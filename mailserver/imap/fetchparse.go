package imap

import (
	"strings"

	"github.com/emersion/go-imap/v2"
)

// fetchRequest is a parsed FETCH: the items in go-imap's FetchOptions,
// the modifiers of RFC 7162 (CHANGEDSINCE, VANISHED), and the RFC822*
// items, which are body sections answered under their own names.
type fetchRequest struct {
	opts         imap.FetchOptions
	changedSince bool // CHANGEDSINCE given (opts.ChangedSince may be 0)
	vanished     bool // VANISHED given (QRESYNC, UID FETCH only)
	alias        map[*imap.FetchItemBodySection]string
	// bodyToo: BODY was asked for beside BODYSTRUCTURE (opts holds one
	// of them); both are answered.
	bodyToo bool
}

// maxFetchItems bounds the items of one FETCH.
const maxFetchItems = 64

// fetchItems reads the FETCH attribute list (after the sequence set and
// its space) and any modifiers, up to the end of the command.
func (d *decoder) fetchItems(req *fetchRequest) error {
	o := &req.opts
	if b, _ := d.peek(); b == '(' {
		n := 0
		if err := d.list(func() error {
			if n++; n > maxFetchItems {
				return badf("too many FETCH items")
			}
			return d.fetchAtt(req)
		}); err != nil {
			return err
		}
	} else {
		name, err := d.attName()
		if err != nil {
			return err
		}
		switch name {
		case "ALL":
			o.Flags, o.InternalDate, o.RFC822Size, o.Envelope = true, true, true, true
		case "FAST":
			o.Flags, o.InternalDate, o.RFC822Size = true, true, true
		case "FULL":
			o.Flags, o.InternalDate, o.RFC822Size, o.Envelope = true, true, true, true
			o.BodyStructure = &imap.FetchItemBodyStructure{}
		default:
			if err := d.fetchAttNamed(req, name); err != nil {
				return err
			}
		}
	}
	if d.accept(' ') {
		if err := d.list(func() error {
			m, err := d.atom()
			if err != nil {
				return err
			}
			switch strings.ToUpper(m) {
			case "CHANGEDSINCE":
				if err := d.sp(); err != nil {
					return err
				}
				v, err := d.number64()
				if err != nil {
					return err
				}
				o.ChangedSince = v
				o.ModSeq = true
				req.changedSince = true
			case "VANISHED":
				req.vanished = true
			default:
				return badf("unknown FETCH modifier %s", truncate(m, 32))
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return d.end()
}

// attName reads a fetch attribute name: letters, digits and dots.
func (d *decoder) attName() (string, error) {
	s, err := d.readWhile(func(c byte) bool {
		return c == '.' || (c >= '0' && c <= '9') || (c|0x20 >= 'a' && c|0x20 <= 'z')
	}, 32)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", badf("expected a FETCH item")
	}
	return strings.ToUpper(s), nil
}

func (d *decoder) fetchAtt(req *fetchRequest) error {
	name, err := d.attName()
	if err != nil {
		return err
	}
	return d.fetchAttNamed(req, name)
}

func (d *decoder) fetchAttNamed(req *fetchRequest, name string) error {
	o := &req.opts
	switch name {
	case "ENVELOPE":
		o.Envelope = true
	case "FLAGS":
		o.Flags = true
	case "INTERNALDATE":
		o.InternalDate = true
	case "RFC822.SIZE":
		o.RFC822Size = true
	case "UID":
		o.UID = true
	case "MODSEQ":
		o.ModSeq = true
	case "BODYSTRUCTURE":
		if o.BodyStructure != nil && !o.BodyStructure.Extended {
			req.bodyToo = true
		}
		o.BodyStructure = &imap.FetchItemBodyStructure{Extended: true}
	case "RFC822", "RFC822.HEADER", "RFC822.TEXT":
		bs := &imap.FetchItemBodySection{Peek: name == "RFC822.HEADER"}
		switch name {
		case "RFC822.HEADER":
			bs.Specifier = imap.PartSpecifierHeader
		case "RFC822.TEXT":
			bs.Specifier = imap.PartSpecifierText
		}
		o.BodySection = append(o.BodySection, bs)
		if req.alias == nil {
			req.alias = make(map[*imap.FetchItemBodySection]string)
		}
		req.alias[bs] = name
	case "BODY", "BODY.PEEK":
		b, err := d.peek()
		if err != nil {
			return err
		}
		if b != '[' {
			if name == "BODY.PEEK" {
				return badf("BODY.PEEK needs a section")
			}
			if o.BodyStructure != nil && o.BodyStructure.Extended {
				req.bodyToo = true
				return nil
			}
			o.BodyStructure = &imap.FetchItemBodyStructure{}
			return nil
		}
		bs := &imap.FetchItemBodySection{Peek: name == "BODY.PEEK"}
		if err := d.section(bs); err != nil {
			return err
		}
		p, err := d.partial()
		if err != nil {
			return err
		}
		bs.Partial = p
		o.BodySection = append(o.BodySection, bs)
	case "BINARY", "BINARY.PEEK", "BINARY.SIZE":
		part, err := d.sectionBinary()
		if err != nil {
			return err
		}
		if name == "BINARY.SIZE" {
			o.BinarySectionSize = append(o.BinarySectionSize, &imap.FetchItemBinarySectionSize{Part: part})
			return nil
		}
		p, err := d.partial()
		if err != nil {
			return err
		}
		o.BinarySection = append(o.BinarySection, &imap.FetchItemBinarySection{Part: part, Partial: p, Peek: name == "BINARY.PEEK"})
	default:
		return badf("unknown FETCH item %s", truncate(name, 32))
	}
	return nil
}

// maxPartDepth bounds a section part number (1.2.3...).
const maxPartDepth = 16 << 10

// sectionPart reads "1.2.3" and reports whether a "." follows it (then a
// section-text comes next).
func (d *decoder) sectionPart() ([]int, bool, error) {
	var part []int
	for {
		b, err := d.peek()
		if err != nil {
			return nil, false, err
		}
		if b < '0' || b > '9' {
			return part, false, nil
		}
		n, err := d.number()
		if err != nil {
			return nil, false, err
		}
		if n == 0 {
			return nil, false, badf("section part 0")
		}
		if part = append(part, int(n)); len(part) > maxPartDepth {
			return nil, false, badf("section part too deep")
		}
		if !d.accept('.') {
			return part, false, nil
		}
		b, err = d.peek()
		if err != nil {
			return nil, false, err
		}
		if b < '0' || b > '9' {
			return part, true, nil
		}
	}
}

// section reads "[" section-spec "]".
func (d *decoder) section(bs *imap.FetchItemBodySection) error {
	if err := d.expect('['); err != nil {
		return err
	}
	part, dot, err := d.sectionPart()
	if err != nil {
		return err
	}
	bs.Part = part
	if len(part) == 0 || dot {
		if !d.accept(']') {
			spec, err := d.attName()
			if err != nil {
				return err
			}
			switch spec {
			case "HEADER":
				bs.Specifier = imap.PartSpecifierHeader
			case "TEXT":
				bs.Specifier = imap.PartSpecifierText
			case "MIME":
				if len(part) == 0 {
					return badf("MIME needs a part number")
				}
				bs.Specifier = imap.PartSpecifierMIME
			case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
				bs.Specifier = imap.PartSpecifierHeader
				if err := d.sp(); err != nil {
					return err
				}
				var fields []string
				if err := d.list(func() error {
					f, err := d.astring()
					if len(fields) >= 256 {
						return badf("too many header fields")
					}
					fields = append(fields, f)
					return err
				}); err != nil {
					return err
				}
				if len(fields) == 0 {
					return badf("empty header list")
				}
				if spec == "HEADER.FIELDS" {
					bs.HeaderFields = fields
				} else {
					bs.HeaderFieldsNot = fields
				}
			default:
				return badf("unknown section %s", truncate(spec, 32))
			}
			return d.expect(']')
		}
		return nil
	}
	return d.expect(']')
}

func (d *decoder) sectionBinary() ([]int, error) {
	if err := d.expect('['); err != nil {
		return nil, err
	}
	part, dot, err := d.sectionPart()
	if err != nil {
		return nil, err
	}
	if dot {
		return nil, badf("BINARY takes part numbers only")
	}
	return part, d.expect(']')
}

// partial reads an optional "<offset.size>". "<offset>" alone is read as
// everything from offset on (Size -1): RFC 9051's grammar always has a
// size, but Dovecot takes the short form, so clients tried against it may
// send it.
func (d *decoder) partial() (*imap.SectionPartial, error) {
	if !d.accept('<') {
		return nil, nil
	}
	off, err := d.number()
	if err != nil {
		return nil, err
	}
	if d.accept('>') {
		return &imap.SectionPartial{Offset: int64(off), Size: -1}, nil
	}
	if err := d.expect('.'); err != nil {
		return nil, err
	}
	size, err := d.number()
	if err != nil {
		return nil, err
	}
	if size == 0 {
		return nil, badf("partial size 0")
	}
	return &imap.SectionPartial{Offset: int64(off), Size: int64(size)}, d.expect('>')
}
