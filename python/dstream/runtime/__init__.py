"""Running tasks: resolve providers, start them, hand their pipes to the Rust pump."""
