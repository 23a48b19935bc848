// Package apijson writes the answers of mcptray's control API, so that the
// hub's handlers and oauthflow's sign-in actions answer alike.
package apijson

import (
	"encoding/json"
	"net/http"
)

// Write answers with v as indented JSON.
func Write(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Error answers with {"error": msg}.
func Error(w http.ResponseWriter, code int, msg string) {
	Write(w, code, map[string]string{"error": msg})
}
