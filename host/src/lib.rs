//! studio-edge host (placeholder: being written).
