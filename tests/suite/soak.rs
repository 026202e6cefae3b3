//! The soak run's short variant (the full run is `make soak`).
