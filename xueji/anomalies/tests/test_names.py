"""Name features of the linkage: surname and given name apart, in characters and pinyin."""

from xueji.anomalies.names import name_features, split_name


def test_split_name_reads_compound_surnames_and_names_without_chinese_characters():
    """欧阳 is one surname; a name in Latin letters splits at its first space."""
    assert split_name("欧阳明月") == ("欧阳", "明月")
    assert split_name("张伟") == ("张", "伟")
    assert split_name("KIM MINJUN") == ("KIM", "MINJUN")
    assert split_name("王") == ("王", "")


def test_homophones_share_their_pinyin_keys_and_not_their_characters():
    """张伟 and 章伟 differ in characters, agree in pinyin; the surname reads as a surname."""
    zhang, zhang2 = name_features("张伟"), name_features("章伟")
    assert zhang.surname != zhang2.surname
    assert (zhang.surname_key, zhang.given_key) == (zhang2.surname_key, zhang2.given_key)
    assert name_features("曾子轩").surname_key == "zeng"  # not the word reading "ceng"


def test_a_name_in_capital_pinyin_meets_its_characters_in_pinyin():
    """The name on a passport (ZENG ZI XUAN) has the keys of 曾子轩."""
    passport, chinese = name_features("ZENG ZI XUAN"), name_features("曾子轩")
    assert passport.surname_key == chinese.surname_key == "zeng"
    assert passport.given_key == chinese.given_key == "zixuan"


def test_given_names_one_character_apart_share_a_mask():
    """子轩/子涵 share "子*"; 子轩/涵子 share none; a one-character given name has none."""
    assert set(name_features("王子轩").given_masks) & set(name_features("王子涵").given_masks)
    assert not set(name_features("王子轩").given_masks) & set(name_features("王涵子").given_masks)
    assert name_features("王伟").given_masks == ()
    assert name_features("王").given is None
