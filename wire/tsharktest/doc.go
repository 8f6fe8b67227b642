// Package tsharktest holds the interoperability tests in which tshark, an
// independent implementation, dissects every kind of packet the wire
// packages encode. It has no API.
package tsharktest
