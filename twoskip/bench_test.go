package twoskip

import "testing"

func BenchmarkIterate(b *testing.B) { fileFormat.BenchIterate(b) }

func BenchmarkWrite(b *testing.B) { fileFormat.BenchWrite(b) }
