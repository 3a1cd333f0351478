"""The tables of the LanceDB store, one module each; `index.store.Store` joins them."""
