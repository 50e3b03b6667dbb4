package memvol_test

import (
	"testing"

	"github.com/tidemark/tidemark/hsm"
	"github.com/tidemark/tidemark/hsm/memvol"
	"github.com/tidemark/tidemark/hsm/volumetest"
)

func TestConformance(t *testing.T) {
	volumetest.Run(t, func(t *testing.T) hsm.Volume { return memvol.New(nil) })
}
