"""Third held-out set of out-of-scope instructions, written independently of the training negatives.

Written by a separate author who did not see the training patterns (:mod:`edsc.world.out_of_scope` and the
modules it draws its words from) nor the second held-out set; only the first held-out set
(:mod:`edsc.world.scope_heldout`) was read, for its format and categories, and none of its sentences is reused.
The sentences are what different users of a face-editing app might type that a bundle of the five attributes
(bangs, eyeglasses, beard, smiling, age, each by degree) cannot do: other face parts, other properties of the
five parts (colour, shape, material, style), accessories, body and expression, whole-image edits, requests that
name no attribute, off-topic requests, fillers, gibberish, bare punctuation, empty or blank input, and requests in
other languages and scripts. They vary in wording, length, politeness and case, and some carry typos.
"""

from __future__ import annotations

__all__ = ["HELD_OUT_3", "held_out_3"]

HELD_OUT_3: dict[str, tuple[str, ...]] = {
    "face_part": (
        "can u make her ears smaller", "Thicker eyebrows please, like really bushy ones", "give him a cleft chin",
        "his forehead is huge, shrink it", "I want her lips fuller but not overdone", "remove the acne on his forehead",
        "could you close up the gap in his front teeth?", "make her eyes green", "narrower face pls",
        "hide the birthmark on his neck", "make his nose less crooked", "can you give her high arched brows",
        "the left eye is bigger than the right one, even them out", "smooth out the pores on her nose",
        "hollow cheeks, model style", "HIS EARS ARE TOO BIG", "make the eyelashes curl up more",
        "Would it be possible to make her jaw a bit softer? It looks very angular in this shot.",
        "I'd like to see him with a unibrow", "take away the dark circles", "lift the outer corners of her eyes",
        "fix his chipped tooth", "chubbier cheeks", "shorten the space between her nose and upper lip",
        "pointy elf ears", "less oily skin on the t-zone", "can her lips be thinner?",
        "monolid eyes instead of double eyelids", "give him a hooked nose", "the eyebrows are uneven, match them up",
        "brighten the whites of his eyes", "get rid of the sunburn on her nose",
        "heterochromia, one blue eye and one brown", "make her forehaed shorter",
    ),
    "scoped_property": (
        "could his beard be dyed a coppery red", "glasses with thick tortoiseshell frames",
        "round lenses instead of those square ones", "mirror-tinted lenses plz",
        "her bangs should be swept to the side", "put little beads in his beard",
        "a smirk, only on one side of the mouth", "can the smile look more sarcastic?",
        "paint the glasses frames bright red", "blonde highlights in her fringe", "his beard should look wet and shiny",
        "rimless frames would suit her better", "shape the beard into a sharp point",
    ),
    "accessory": (
        "put a crown on her head", "wrap a scarf around his neck", "give him a thick gold chain",
        "a flower tucked behind her ear", "cover her mouth with one of those paper face masks", "take his hood down",
        "can he wear a motorbike helmet?", "she needs mascara and a bit of blush", "stick a cigar in his mouth",
        "add a sparkly tiara", "take the headphones off her", "put an eyepatch on him like a pirate",
        "a small tattoo on his cheek", "Add a hijab", "give her big hoop earings", "clip a bow in her hair",
    ),
    "body": (
        "make him taller", "give her a six pack", "he needs bigger biceps", "can you make her look pregnant",
        "turn him into a woman", "make him look like a zombie", "make her a cat", "she should look surprised",
        "have him winking with his left eye", "have him look at the camera instead of away",
        "can her eyes be half shut like she's dozing", "stick his tongue out", "make her look more feminine",
        "cross his arms", "give him pale vampire skin", "make her look like my sister", "he should look scared",
        "raise his hand like he's waving", "put him in a suit instead of the t-shirt",
    ),
    "image": (
        "crop to 1:1 for instagram", "Blur teh background", "sharpen the photo", "incrase saturation",
        "too bright, tone it down", "flip it horizontally", "rotate it a quarter turn to the left", "add a vignette",
        "remvoe the watermark", "make it look like anime", "turn this into a pencil sketch", "warmer colours please",
        "make the resolution higher, its pixelated", "put a beach behind her", "erase the guy in the background",
        "denoise", "add snowflakes drifting down", "Can you make the lighting look like golden hour?",
        "zoom in closer so only the face fills the frame", "apply a sepia filter",
        "the whites are blown out, recover the highlights", "make it a looping gif", "add a rainbow in the sky",
        "export as png",
        "the photo was taken indoors under yellow lamps and everything looks orange, can you correct the white "
        "balance so it looks natural",
    ),
    "no_attribute": (
        "moreee", "a bit less if u can", "a tad more", "crank it", "dial it back a bit", "put it at three out of five",
        "MAX", "zero it out", "undo the last thing you did", "do the same again", "make her prettier",
        "make him look cooler", "change whatever you think looks off", "improve her face somehow",
        "put it back like before", "increase by one", "just a touch", "can you make him more handsome?",
        "do something fun with it",
    ),
    "off_topic": (
        "what's the weather tomorrow", "put on some lofi beats", "how do i cook rice", "set a timer for 10 minutes",
        "who won the world cup in 2018", "how do you say thank you in dutch", "what is 17 times 23",
        "order a large pepperoni for delivery", "are you a real person or a bot", "book a flight to lisbon",
        "whats the capital of australia", "remind me to call mom", "I'm bored", "write me a poem about the sea",
        "how far away is the moon", "what time does the sun set in oslo today",
        "Can you recommend a laptop under 1000 dollars? I mostly do photo editing and some light gaming.",
    ),
    "filler": (
        "okey dokey", "tyvm", "thank u so much!!", "cool beans", "hmm lemme think", "greatttt", "sweeeet", "ah",
        "right right", "sure thing buddy", "alrighty", "lmao", "gotcha", "np", "works for me i guess", "whatevs",
        "hello? anyone there",
    ),
    "gibberish": (
        "sdfkjsdf", "qwertyqwerty", "lkjhg", "ooo ooo ooo", "blorpington", "fjfjfjfj", "abc def", "xyz", "8675309",
        "a1b2c3", "wubba lubba", "hjkl", "pppp qqqq", "mnbvc lkj", "ksksksks", "flibbertigibbet zonk", "grrrbl",
    ),
    "punctuation": (
        "..?", "?!!", "!!!!!!", ".,.,.,", "---", "***", "~~ ~~", ">:(", ";-)", "^^;", "(?)", "///", "\u2026",
    ),
    "empty": (
        "\n \n", "\t\t\t\t", "\t \t", "  \u00a0  ", "\u00a0", "\u3000",
    ),
    "foreign": (
        "背景を青空にして", "帽子をかぶせてください", "把眼睛变大一点", "给他戴一顶帽子", "입술을 빨갛게 해줘", "사진을 흑백으로 바꿔 주세요", "убери фон",
        "сделай глаза голубыми", "اجعل الصورة أكثر سطوعا", "غيّر لون الشعر إلى الأحمر", "बैकग्राउंड हटा दो",
        "उसे टोपी पहनाओ", "κάνε τα μάτια πράσινα", "תוסיף כובע", "ทำให้ผิวเนียนขึ้น", "arka planı bulanıklaştır",
        "làm cho mắt to hơn", "zmień kolor oczu na zielony", "che tempo fa domani?", "quanto custa esse app?",
        "ongeza kofia kichwani", "tolong hapus latar belakangnya", "зроби губи товщими", "عکس را روشن\u200cتر کن",
        "kannst du die Nase gerader machen?", "ajoute des taches de rousseur",
    ),
}


def held_out_3() -> list[tuple[str, str]]:
    """Every sentence of the third held-out set, in a fixed order.

    Returns
    -------
    list of (str, str)
        (text, category) pairs, categories in the order of :data:`HELD_OUT_3`, texts in their listed order.
    """
    return [(text, category) for category, texts in HELD_OUT_3.items() for text in texts]
