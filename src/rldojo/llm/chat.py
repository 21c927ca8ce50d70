"""Chat formatting at the token level, so episodes grow by appending and are never re-tokenized.

An episode's token ids are: the prompt (system + first user message + assistant header), then per
turn the model's reply and the *turn suffix* (end of the assistant message, the next user message,
the next assistant header). Each piece is tokenized on its own and appended; the model's replies
are kept as the ids it sampled. Pieces are cut at special-token boundaries of the chat template,
so tokenizing them apart gives the same ids as the template's whole rendering would.

The pieces come from the tokenizer's own chat template: it is rendered with a marker as the
assistant's reply and the text after the marker is the suffix. Tokenizers without a template get
a plain `System:/User:/Assistant:` format (with a log line saying so).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from loguru import logger

_MARK = "\u2063RLDOJO_REPLY\u2063"

PLAIN_STOP = "\nUser:"


@dataclass
class ChatFormat:
    """Turns messages into token pieces for one tokenizer."""

    tokenizer: object
    plain: bool = False
    """Use the plain format instead of the tokenizer's chat template."""
    end_ids: list[int] = field(default_factory=list)
    """Tokens that close an assistant reply (e.g. `<|im_end|>`); a demonstration's reply ends with them."""
    stop_ids: set[int] = field(default_factory=set)
    """Token ids that end a generated reply."""
    stop_strings: tuple[str, ...] = ()
    """Strings that end a generated reply (the plain format's next `User:`)."""
    _prompt_cache: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def for_tokenizer(cls, tokenizer, mode: str = "auto") -> ChatFormat:
        has_template = bool(getattr(tokenizer, "chat_template", None))
        plain = mode == "plain" or not has_template
        if plain and mode != "plain":
            logger.info("the tokenizer has no chat template: using the plain System:/User:/Assistant: format")
        chat = cls(tokenizer=tokenizer, plain=plain)
        eos = tokenizer.eos_token_id
        if plain:
            chat.end_ids = [eos] if eos is not None else []
            chat.stop_ids = {eos} if eos is not None else set()
            chat.stop_strings = (PLAIN_STOP,)
            return chat
        closing = chat._render(
            [{"role": "user", "content": "u"}, {"role": "assistant", "content": _MARK}], generation_prompt=False
        )
        closing = closing[closing.index(_MARK) + len(_MARK) :]
        end_ids = chat.encode(closing.rstrip("\n")) if closing.strip() else []
        chat.end_ids = end_ids[:1]
        chat.stop_ids = set(end_ids[:1]) | ({eos} if eos is not None else set())
        if not chat.stop_ids:
            chat.stop_strings = (PLAIN_STOP,)
        return chat

    # ---- pieces -------------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _render(self, messages: list[dict], generation_prompt: bool) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)

    def _system_messages(self, system: str | None) -> list[dict]:
        return [{"role": "system", "content": system}] if system else []

    def prompt_text(self, system: str | None, user: str) -> str:
        if self.plain:
            head = f"System: {system}\n\n" if system else ""
            return f"{head}User: {user}\n\nAssistant:"
        return self._render(self._system_messages(system) + [{"role": "user", "content": user}], generation_prompt=True)

    def prompt_ids(self, system: str | None, user: str) -> list[int]:
        """System prompt, first user message and the assistant header (a new list each call)."""
        key = (system, user)
        cached = self._prompt_cache.get(key)
        if cached is None:
            # A group plays the same prompt several times: render and tokenize it once.
            cached = self.encode(self.prompt_text(system, user))
            bos = getattr(self.tokenizer, "bos_token_id", None)
            if self.plain and bos is not None and (not cached or cached[0] != bos):
                cached = [bos, *cached]
            if len(self._prompt_cache) >= 4096:
                self._prompt_cache.clear()
            self._prompt_cache[key] = cached
        return list(cached)

    def suffix_text(self, user: str) -> str:
        """Text between an assistant reply and the next reply: end of the reply, the user message,
        the next assistant header."""
        if self.plain:
            return f"\n\nUser: {user}\n\nAssistant:"
        rendered = self._render(
            [
                {"role": "user", "content": "u"},
                {"role": "assistant", "content": _MARK},
                {"role": "user", "content": user},
            ],
            generation_prompt=True,
        )
        return rendered[rendered.index(_MARK) + len(_MARK) :]

    def turn_ids(self, user: str, reply_closed: bool) -> list[int]:
        """Token ids of the turn suffix. When the reply already ends with the end-of-reply token (the
        model produced it), that token is not repeated."""
        ids = self.encode(self.suffix_text(user))
        if self.plain:
            if not reply_closed and self.end_ids:
                return [*self.end_ids, *ids]
            return ids
        if reply_closed and self.end_ids and ids[: len(self.end_ids)] == self.end_ids:
            return ids[len(self.end_ids) :]
        return ids

    def reply_ids(self, text: str) -> list[int]:
        """A written reply (a demonstration) as the model would produce it: text + end-of-reply."""
        return [*self.encode(text), *self.end_ids]

    def closes_reply(self, ids: list[int]) -> bool:
        return bool(ids) and ids[-1] in self.stop_ids
