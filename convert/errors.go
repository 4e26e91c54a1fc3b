package convert

import (
	"errors"

	"github.com/murderkit/murderkit/registry"
)

func isNotFound(err error) bool { return errors.Is(err, registry.ErrNotFound) }
