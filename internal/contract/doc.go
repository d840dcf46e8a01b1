// Package contract holds every name that the gateway and the workflows share:
// workflow types, signal and query names, payload structs, search-attribute
// keys and workflow-id helpers. Nothing in it does I/O, so both sides (and the
// workflow sandbox) can import it; nothing here is spelled twice elsewhere.
package contract
