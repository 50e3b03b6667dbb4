package imap

import (
	"bytes"
	"compress/flate"
	"io"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/tidemark/tidemark/internal/inflate"
)

// codeCompressionActive is RFC 4978's COMPRESSIONACTIVE.
const codeCompressionActive imap.ResponseCode = "COMPRESSIONACTIVE"

// compressLevel trades CPU for bytes on the wire; 5 is within a few
// percent of the best ratio on mail at a fraction of level 9's cost.
const compressLevel = 5

// cmdCompress answers COMPRESS DEFLATE (RFC 4978): after the tagged OK
// both directions are raw DEFLATE streams. Each response batch ends with
// a sync flush so the client never waits for bytes held in the
// compressor. The limitReader stays in front of the decoder and now reads
// the inflated stream, so every limit holds as before.
func (c *conn) cmdCompress(tag string, uid bool) error {
	if err := c.dec.sp(); err != nil {
		return err
	}
	alg, err := c.dec.atom()
	if err != nil {
		return err
	}
	if err := c.dec.end(); err != nil {
		return err
	}
	if !strings.EqualFold(alg, "DEFLATE") {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Unknown compression algorithm"}
	}
	if c.compressed {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: codeCompressionActive, Text: "Compression already active"}
	}
	if c.br.Buffered() > 0 {
		// The client sent more after COMPRESS without waiting for the
		// OK; that input is not compressed, which the RFC forbids.
		return &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Commands pipelined after COMPRESS"}
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.enc.status(tag, imap.StatusResponseTypeOK, "", "DEFLATE active")
	if err := c.flushLocked(); err != nil {
		return err
	}
	fw, err := flate.NewWriter(c.nc, compressLevel)
	if err != nil {
		return err
	}
	c.bw.Reset(fw)
	bw := c.bw
	c.flush = func() error {
		if err := bw.Flush(); err != nil {
			return err
		}
		return fw.Flush()
	}
	c.lr.wrapSource(func(r io.Reader) io.Reader { return inflate.NewReader(r) })
	c.compressed = true
	c.answered = true
	return nil
}

// wrapSource puts f (a decompressor) between the transport and the
// reader: what was read from the transport and not yet processed goes
// through it first.
func (r *limitReader) wrapSource(f func(io.Reader) io.Reader) {
	rest := bytes.Clone(r.in)
	r.in = r.buf[:0]
	r.src = f(io.MultiReader(bytes.NewReader(rest), r.src))
}
