"""A second held-out set of out-of-scope instructions, written independently of the first.

Written by a separate author who did not see the training patterns or the training negatives
(:mod:`edsc.world.out_of_scope` and the lexicon, templates and patterns it draws on were not read); only the
category names and the format of :mod:`edsc.world.scope_heldout` were taken from that file, none of its sentences.
The sentences are phrased the way users type: varied wording and length, polite and curt, questions, typos,
lower and upper case, and requests in many languages. Every sentence asks for something a bundle of the five
editable attributes (bangs, eyeglasses, beard, smiling, age, each by degree 0-5) cannot do, or for nothing at all:
other face parts, other properties of the five parts (colour, material, shape), accessories, the body, the whole
image, an edit with no attribute named, off-topic requests, fillers, gibberish, bare punctuation and blank input.
"""

from __future__ import annotations

__all__ = ["HELD_OUT_2", "held_out_2"]

HELD_OUT_2: dict[str, tuple[str, ...]] = {
    "face_part": (
        "can u make her nose a bit narrower", "Flatten the bridge of his nose, please.",
        "her forehead is way too big", "I want thicker eyebrows on him", "could the chin be a little pointier?",
        "plump up her cheeks", "SMALLER EARS", "make the lips thinner pls",
        "Hello, I was wondering whether it would be possible to give him a cleft chin, like an old movie star?",
        "can you close up the gap in his front teeth", "the left eye looks lazy, can you straighten it",
        "green eyes would suit her better", "hide the acne on his forehead", "erase the birthmark near the ear",
        "her eyebrwos are uneven, match them", "I'd like a more defined jawline on this guy",
        "lenghten her eyelashes", "the nostrls are flared, calm them down", "make his eyes look bigger",
        "give her hooded eyelids", "remove the pimple on the chin", "more prominent cheekbones please",
        "Could you make her mouth a bit wider?", "narrow the face", "he needs a rounder face",
        "shorten the philtrum", "take away the dark circles under his eyes", "lower his eyebrows",
        "add a beauty mark above the lip", "his ears look uneven, fix the right one", "heterochromia, one blue eye",
        "tongue sticking out", "i want her lips fuller and redder", "get rid of the gap tooth",
    ),
    "scoped_property": (
        "make his beard jet black", "the glasses frames should be tortoiseshell", "curl her fringe",
        "can the lenses be mirrored?", "paint his beard blue for the match", "give her bangs blonde highlights",
        "make the spectacles wire-framed instead of plastic", "shape his beard into a point like a wizard",
        "her smile should be lopsided, left side only", "can you put a gold tooth in his smile",
        "part the bangs down the middle", "tint his glasses amber", "i want the beard to look wet and shiny",
    ),
    "accessory": (
        "she deserves a tiara with rubies", "add a stethoscope around his neck", "give her pearl earrings",
        "can you draw a tie on him?", "take off the scarf, she never wears one in real life and it looks odd",
        "add a flower behind her ear", "put a baseball cap on backwards", "a lip piercing would look cool",
        "add a surgical mask", "a monocle on a chain, very posh", "hoop earrings pls", "remove his hoodie",
        "she should be wearing a necklace", "draw a tattoo on his neck", "add a hair clip",
        "stick some big over-ear headphones on him",
    ),
    "body": (
        "make his arms more muscular", "give her a longer neck", "can you make him taller?",
        "she should be standing, not sitting", "give him a beer belly", "could he pass for a hobbit from the shire",
        "make her look like a zombie", "could you make this guy look like a robot?", "give him a six pack",
        "make her skin paler", "raise his hand in a wave", "make him look surprised", "can she look scared",
        "close her eyes", "have him glance over his shoulder", "tilt her head down a little",
        "she should be winking with her right eye", "turn this woman into a man", "change his ethnicity",
    ),
    "image": (
        "crop it to a square", "rotate 90 degrees clockwise", "make the photo sharper",
        "smudge everything behind her so only she is in focus", "add a black and white filter",
        "can you increase the brightness a bit?", "make it look like a sketch", "REMOVE THE WATERMARK",
        "flip it so he faces the other way", "make it warmer, more orange tones", "reduce the noise in this pic",
        "change the backround to a beach", "darken the corners a bit, vignette style", "upscale to 4k",
        "the colors are washed out, fix them", "give it a retro film look", "resize to 512 by 512",
        "add snow falling", "put a border around the photo", "add sepia", "can you make the lighting softer",
        "remove the lamp post in the back", "compress the file", "turn this into an anime drawing",
        "zoom way in, I only want from eyebrows to chin",
    ),
    "no_attribute": (
        "a tad further if u can", "moar", "dial it back", "too much, go back", "undo that", "can you do it again",
        "bump it up by one", "set it to 3", "halfway", "crank that way up", "tone it down a little",
        "all the way up", "back to zero", "change something", "surprise me",
        "idk, just make her look nicer overall", "can you polish up his face somehow", "do the thing",
        "same as before but more",
    ),
    "off_topic": (
        "what time is it in tokyo", "play some jazz", "whats the weather like tomorrow",
        "my router keeps dropping wifi, any idea why?", "translate hello into french",
        "who won the world cup in 2010", "order me a pizza", "what's 17 times 23",
        "start a countdown for the pasta, 9 minutes", "can you write me a poem about the sea",
        "how many moons does jupiter have", "book a table for two at 8", "are you a human?",
        "explain quantum computing simply",
        "Hi! Before we continue, could you remind me to call my mom tonight at around nine?",
        "what's the capital of australia", "I need help with my homework",
    ),
    "filler": (
        "okie dokie", "cheers mate", "hm, I see", "coolio", "niiice", "got it", "sure thing", "haha",
        "alright then", "uhh", "great stuff, ta", "nah im good", "brb", "eh whatevs", "fine by me", "yup yup", "ty",
    ),
    "gibberish": (
        "qwertyuiop", "sdfsdfsdf", "lkjhgf", "poiuyt rewq", "bleep bloop", "hjkhjkhjk", "nngh hrrmph",
        "frobnicate the wuzzle", "a8s7d6f5", "zxzxzx", "98765 4321", "ooga booga", "skdjfh wkejr", "abc def ghi",
        "blorp", "wqe rty", "mnbvcxz",
    ),
    "punctuation": (
        "?.?", "....", "!?!?!?", "!.!.!", "~~~", "=^.^=", ":-(", "<>", "[]", "//", "???!!!", "^^", "%%%",
    ),
    "empty": ("", "    ", "\t\t", " \n ", "\r\n", ". . ."),
    "foreign": (
        "rendi le sopracciglia più spesse", "metti un cappello di paglia", "aumenta la luminosità della foto",
        "deixa os lábios mais grossos", "muda o fundo para uma praia", "maak de achtergrond wazig",
        "doe hem een stropdas om", "gör hennes ögon gröna", "ta bort bakgrunden", "dodaj kolczyki",
        "zmień kolor oczu na niebieski", "arka planı değiştir", "dudaklarını kalınlaştır",
        "背景をぼかしてください", "帽子をかぶせて", "把背景换成海边", "给她戴上项链",
        "сделай фото ярче", "добавь шляпу", "اجعل الأنف أصغر", "बैकग्राउंड बदल दो",
        "입술을 더 두껍게 해줘", "làm mũi nhỏ hơn", "buat hidungnya lebih kecil", "κάνε τη μύτη μικρότερη",
    ),
}


def held_out_2() -> list[tuple[str, str]]:
    """Every sentence of the second held-out set as (text, category), in a fixed order.

    Returns
    -------
    list of tuple of (str, str)
        (text, category) pairs; note the order of fields is the reverse of
        :func:`edsc.world.scope_heldout.held_out`.
    """
    return [(text, category) for category, texts in HELD_OUT_2.items() for text in texts]
