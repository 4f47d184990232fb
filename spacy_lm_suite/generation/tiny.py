"""Tiny random causal LMs with a byte-level BPE tokenizer trained in-process (under a second).

For tests, examples and ``configs/generator_gpt2_tiny.cfg``: a folder that
loads like any Hugging Face model, without a download.

- ``kind="gpt2"``: ``GPT2LMHeadModel``; eos ``<|endoftext|>`` and no pad token
  (pad falls back to eos), context ``n_positions``.
- ``kind="llama"``: ``LlamaForCausalLM`` that copies SmolLM2's quirks: the
  tokenizer adds a BOS ``<|im_start|>`` and calls it eos too, there is no pad
  token, ``model_max_length`` is the 1e30 sentinel, the generation config's
  eos is ``<|im_end|>``, and it has SmolLM2's chat template.

The weights are random, then briefly fitted to a small corpus, so the text
is corpus-like nonsense, deterministic for a given ``seed``.
"""

from pathlib import Path
from typing import Iterator, List, Union

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a tiny helpful assistant<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SENTENCE_PARTS = (
    ["The capital of France", "A small model", "The river", "My old friend", "Every answer", "This sentence"],
    ["is", "was", "becomes", "looks like", "seems to be", "will be"],
    ["Paris.", "very short.", "a question?", "long and winding.", "written here.", "the end!"],
)


def corpus() -> Iterator[str]:
    """A few hundred deterministic English-like sentences, with digits and non-ASCII."""
    subjects, verbs, endings = SENTENCE_PARTS
    for i, subject in enumerate(subjects):
        for j, verb in enumerate(verbs):
            for k, ending in enumerate(endings):
                yield f"{subject} {verb} {ending} ({i}{j}{k}) Café, naïve, 東京."


def train_tokenizer(*, vocab_size: int = 384, bos: bool = False):
    """A ``PreTrainedTokenizerFast`` with a byte-level BPE trained on :func:`corpus`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(corpus()), trainer)
    if bos:
        tokenizer.post_processor = processors.TemplateProcessing(
            single="<|im_start|> $A", pair="<|im_start|> $A <|im_start|> $B", special_tokens=[("<|im_start|>", 1)]
        )
    else:
        tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    return tokenizer


def build_tiny_causal_lm(
    folder: Union[str, Path],
    *,
    kind: str = "gpt2",
    seed: int = 0,
    context: int = 128,
    vocab_size: int = 384,
    train_steps: int = 60,
) -> Path:
    """Write a tiny ``kind`` (``"gpt2"`` or ``"llama"``) model and tokenizer to ``folder``.

    The random weights get ``train_steps`` Adam steps on :func:`corpus`
    (well under a second), enough for it to write corpus-like words rather
    than byte soup, so stop strings and streams have real text to work on.
    """
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, GenerationConfig, LlamaConfig, LlamaForCausalLM
    from transformers import PreTrainedTokenizerFast

    folder = Path(folder)
    backend = train_tokenizer(vocab_size=vocab_size, bos=kind == "llama")
    vocab = backend.get_vocab_size()
    torch.manual_seed(seed)
    if kind == "gpt2":
        config = GPT2Config(
            vocab_size=vocab, n_positions=context, n_embd=32, n_layer=2, n_head=2,
            bos_token_id=0, eos_token_id=0,
        )
        model = GPT2LMHeadModel(config)
        model.generation_config = GenerationConfig(bos_token_id=0, eos_token_id=0)
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=backend, bos_token="<|endoftext|>", eos_token="<|endoftext|>", model_max_length=context
        )
    elif kind == "llama":
        config = LlamaConfig(
            vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=context, bos_token_id=1, eos_token_id=2,
            tie_word_embeddings=True,
        )
        model = LlamaForCausalLM(config)
        model.generation_config = GenerationConfig(bos_token_id=1, eos_token_id=2)
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=backend,
            bos_token="<|im_start|>",
            eos_token="<|im_start|>",  # SmolLM2's quirk: generation must stop at <|im_end|>
            chat_template=CHAT_TEMPLATE,
            model_max_length=int(1e30),
        )
    else:
        raise ValueError(f"unknown kind {kind!r}, expected 'gpt2' or 'llama'")
    if train_steps:
        _fit(model, tokenizer, steps=train_steps)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def _fit(model, tokenizer, *, steps: int) -> None:
    """A few Adam steps of next-token prediction on :func:`corpus` (fixed order and batches)."""
    import torch

    texts = list(corpus())
    encoded = [tokenizer(text)["input_ids"] + [model.generation_config.eos_token_id] for text in texts]
    width = max(len(ids) for ids in encoded)
    ids = torch.full((len(encoded), width), 0, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for row, row_ids in enumerate(encoded):
        ids[row, : len(row_ids)] = torch.tensor(row_ids)
        mask[row, : len(row_ids)] = 1
    labels = ids.masked_fill(mask == 0, -100)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for step in range(steps):
        batch = slice((step * 32) % len(texts), (step * 32) % len(texts) + 32)
        loss = model(input_ids=ids[batch], attention_mask=mask[batch], labels=labels[batch]).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()


def words(n: int) -> List[str]:
    """``n`` short prompts of varied lengths from :func:`corpus`."""
    sentences = list(corpus())
    return [" ".join(sentences[i * 37 % len(sentences)].split()[: 2 + i % 6]) for i in range(n)]
