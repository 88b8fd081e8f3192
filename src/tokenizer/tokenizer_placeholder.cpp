// Placeholder until the tokenizer lands; replaced by the real sources.
