"""ClipCap's beam search over a causal language model, batched, with a key-value cache."""

from ..._utils.optional import require


def _beam_search(lm, prefix, stop_id, num_beams, max_length):
    """ClipCap's ``generate_beam``, batched over embeddings, with a key-value cache.

    prefix: (B, P, D). The score of a beam is its summed log-probability over
    its length; a stopped beam only extends with a free dummy token (id 0).
    Returns B lists of token ids (the stop token included when reached).
    Models that return no cache get the whole sequence again at every step.
    """
    torch = require("torch", purpose="PrefixCaptioner")
    B, K = prefix.shape[0], num_beams
    dev = prefix.device
    emb = lm.get_input_embeddings()
    full = prefix.repeat_interleave(K, dim=0)  # (B*K, P, D): beams of one embedding are adjacent
    out = lm(inputs_embeds=full, use_cache=True)
    cache = getattr(out, "past_key_values", None)
    tokens = scores = seq_len = stopped = None
    for step in range(max_length):
        logp = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1)
        V = logp.shape[-1]
        if step == 0:
            scores, nxt = logp.view(B, K, V)[:, 0].topk(K, dim=-1)  # all K rows are equal here
            nxt, scores = nxt.reshape(-1), scores.reshape(-1)
            tokens = nxt[:, None]
            seq_len = torch.ones(B * K, device=dev)
            stopped = torch.zeros(B * K, dtype=torch.bool, device=dev)
        else:
            logp[stopped] = -float("inf")
            logp[stopped, 0] = 0.0
            seq_len = seq_len + (~stopped).float()
            avg = (scores[:, None] + logp) / seq_len[:, None]
            top, idx = avg.view(B, K * V).topk(K, dim=-1)
            src = (idx // V + torch.arange(B, device=dev)[:, None] * K).reshape(-1)
            nxt = (idx % V).reshape(-1)
            seq_len, stopped = seq_len[src], stopped[src]
            tokens = torch.cat([tokens[src], nxt[:, None]], dim=1)
            scores = top.reshape(-1) * seq_len
            if cache is not None:
                cache.reorder_cache(src)
            else:
                full = full[src]
        stopped = stopped | (nxt == stop_id)
        if bool(stopped.all()) or step == max_length - 1:
            break
        new = emb(nxt)[:, None, :]
        if cache is not None:
            out = lm(inputs_embeds=new, past_key_values=cache, use_cache=True)
            cache = out.past_key_values
        else:
            full = torch.cat([full, new], dim=1)
            out = lm(inputs_embeds=full)
    best = (scores / seq_len).view(B, K).argmax(dim=1)
    rows = torch.arange(B, device=dev) * K + best
    return [tokens[r, : int(seq_len[r])].tolist() for r in rows.tolist()]
