package main

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/mailslot/mailslot/internal/safetext"
)

// writeJSON writes v as one JSON value and a newline, indented when indent
// is not empty. Names and texts in it come from other users and hosts:
// safetext.JSON escapes what encoding/json leaves raw (C1 controls such as
// U+009B, bidi controls such as U+202E), so that the output is as safe on a
// terminal as the text output.
func writeJSON(w io.Writer, v any, indent string) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // keep NAME<1d> readable
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(safetext.JSON(b.Bytes()))
	return err
}
